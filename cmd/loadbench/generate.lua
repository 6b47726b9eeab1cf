-- wrk script: POST a streamed /generate of 16 input ids and 10 output
-- tokens to `loadbench serve`, for the plain-HTTP ceiling of the stub:
--   go run ./cmd/loadbench serve --addr 127.0.0.1:8099 &
--   wrk -t1 -c32 -d10s -s cmd/loadbench/generate.lua http://127.0.0.1:8099
wrk.method = "POST"
wrk.path = "/generate"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input_ids":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"sampling_params":{"max_new_tokens":10,"temperature":0,"ignore_eos":true},"stream":true,"rid":"wrk"}'
