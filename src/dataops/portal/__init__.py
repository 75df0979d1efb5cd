"""The public portal: login, sessions, the operator UI and the `/work/api/*` broker."""
