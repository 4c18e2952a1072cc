"""The console's command line for scripts and people (`console-cli`)."""
