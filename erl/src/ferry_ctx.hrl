%% What a handler process needs to talk to its port. It rides in the request
%% map under the key ?FERRY_CTX, which users leave alone.
-define(FERRY_CTX, '$ferry').

-record(ferry_ctx, {port :: port(),
                    id :: non_neg_integer() | undefined,  % undefined in the template
                    owner :: pid(),
                    %% Bytes of stream_chunk data this handler may have in
                    %% flight before it waits for stream_credit.
                    send_window :: pos_integer(),
                    %% Bytes of request body the port lets be in flight to
                    %% this handler: what read_body grants ahead at least.
                    body_window :: pos_integer(),
                    %% Largest frame the port reads (`ready' says it):
                    %% what a WebSocket message sent whole must fit in.
                    max_frame = infinity :: pos_integer() | infinity,
                    listener :: atom()}).
