"""io room."""
