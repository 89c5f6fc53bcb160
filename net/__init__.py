"""Reading from the network and from user references safely: the address guard (SSRF), capped HTTP downloads,
and resolving "a file path, a URL or base64 text" into image bytes (the CLI and Load Face)."""
