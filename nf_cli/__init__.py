"""`nf`, the operators' command line."""
