"""The web surfaces: the console (server-rendered pages), the API (/api/v1) and the log (/log/)."""
