"""Video file sessions (``/videos``): upload a file once, prompt any frame, propagate both ways, export.

router.py    the HTTP routes (``POST /videos`` ... ``GET /videos/{id}/export``), top to bottom
protocol.py  the request and reply bodies (pydantic), masks as COCO RLE
sessions.py  each operation: the session's lease, its state loaded, the tracker on the device worker, saved
decode.py    the uploaded file decoded with PyAV (limits, timestamps), frames kept as JPEG, a per-process cache
state.py     what is stored per session (the file, sam2's per-object outputs) and its codec for the store
export.py    COCO JSON, a zip of PNG masks, an MP4 with the masks drawn (PyAV)
"""
