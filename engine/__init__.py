"""AdvLens engine: models, attacks and analysis, free of any GUI imports."""
