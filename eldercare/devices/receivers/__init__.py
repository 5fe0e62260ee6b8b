"""Device receivers: asyncio servers for the TCP/UDP device protocols, feeding `eldercare.devices.intake`.

`base` holds what every receiver shares (limits, framing loop, connection guard); each protocol has its own
module (`dc09_server`: SIA DC-09 on TCP and UDP).
"""
