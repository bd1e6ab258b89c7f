%% What a handler process needs to talk to its port. It rides in the request
%% map under the key ?FERRY_CTX, which users leave alone.
-define(FERRY_CTX, '$ferry').
%% The key of a handler's process dictionary where it keeps its request's
%% method, path and handler, for ferry_port's reports about it.
-define(REQUEST_KEY, '$ferry_request').
%% The pattern of the route a request matched, for its events (ferry_lifecycle).
-define(ROUTE_KEY, '$ferry_route_pattern').

-record(ferry_ctx, {port :: port(),
                    id :: non_neg_integer() | undefined,  % undefined in the template
                    owner :: pid(),
                    %% The Rust process: request ids restart with each one,
                    %% so reports name it next to the id.
                    os_pid :: non_neg_integer() | undefined,
                    %% Bytes of stream_chunk data this handler may have in
                    %% flight before it waits for stream_credit.
                    send_window :: pos_integer(),
                    %% Bytes of request body the port lets be in flight to
                    %% this handler: what read_body grants ahead at least.
                    body_window :: pos_integer(),
                    %% The largest frame the port accepts: a longer one
                    %% would make it exit (EXIT_BAD_FRAME), so none is sent.
                    max_frame :: pos_integer(),
                    %% The largest body sent whole, in one `respond'
                    %% (send_window, or half max_frame if less); a larger
                    %% one goes as a stream in pieces of half this.
                    whole_max :: pos_integer(),
                    %% The port's publish window (ferry_fanout): fan-out
                    %% commands take a ticket from it.
                    fanout :: ferry_fanout:window() | undefined,
                    listener :: atom()}).
