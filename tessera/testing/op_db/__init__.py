"""OpInfo entries, one module per operator family."""
