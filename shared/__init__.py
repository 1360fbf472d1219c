"""Domain core of Novel Factory. Imports nothing from Dagster."""
