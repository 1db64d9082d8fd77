"""`vigil scheduler`: every timed rule of a case, on timers kept in Postgres."""
