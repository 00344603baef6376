return {["nil"] = 1, ["true"] = {["end"] = 2}, ["false"] = 3}
