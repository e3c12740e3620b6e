-- wrk script: POST one valid Freepik PixVerse V5 image-to-video create, over and over.
-- Works unchanged against the fake and loadtests/bare_app.py (same path, same body).
-- The key must match API_KEY in loadtests/bench.py; a mismatch shows up there as
-- non-2xx responses and marks the run invalid.
wrk.method = "POST"
wrk.body = '{"prompt":"A red fox running through fresh snow, cinematic lighting",'
        .. '"image_url":"https://example.com/images/fox.jpg","resolution":"720p",'
        .. '"duration":5,"negative_prompt":"blurry, low quality","seed":42}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-freepik-api-key"] = "bench-key"
