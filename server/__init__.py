"""The Faceswap V3 API served from the local engine (aiohttp): routes, request acceptance, the job table and
the worker that runs jobs. Imports the engine; the engine never imports it."""
