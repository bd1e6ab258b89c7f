{:ok, _} = Application.ensure_all_started(:inets)
Code.require_file("support/http_client.exs", __DIR__)
Code.require_file("support/ws_client.exs", __DIR__)
ExUnit.start(capture_log: true)
