"""The dashboard's panels; each takes the latest ServerInfo / StatsSnapshot and draws it."""
