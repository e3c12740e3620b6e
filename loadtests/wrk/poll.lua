-- wrk script: GET one task's status, over and over (the task id is in the URL that
-- loadtests/bench.py passes to wrk).  The fake only shows a task to the key that
-- created it, so this must match API_KEY in loadtests/bench.py.
wrk.method = "GET"
wrk.headers["x-freepik-api-key"] = "bench-key"
