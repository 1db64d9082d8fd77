"""What the Vigil services share: settings, database, models, contracts, broker, logging."""
