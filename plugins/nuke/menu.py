# Nuke runs this at start-up for every folder on its plug-in path (NUKE_PATH, ~/.nuke,
# or nuke.pluginAddPath("/path/to/moebius-video/plugins/nuke") in ~/.nuke/init.py).
import moebius_video_nuke

moebius_video_nuke.install_menu()
