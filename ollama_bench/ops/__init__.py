"""Operating the servers: the compose stack, pulls, doctor, utilisation sampling, host facts."""
