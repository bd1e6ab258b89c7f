defmodule Demo.Banner do
  @moduledoc """
  What the demo prints at start-up and serves at `/`: every URL to try,
  as curl commands.

      IO.puts(Demo.Banner.text("http://localhost:4000"))
  """

  @doc "The list of things to try against the demo at `base` (e.g. `http://localhost:4000`)."
  @spec text(String.t()) :: String.t()
  def text(base) do
    """
    Ferry demo on #{base}

      chat (WebSocket):   open #{base}/chat in two browser windows, same room
                          (each message is published once and fanned out by Rust)
      WebSocket echo:     #{ws(base)}/ws/echo   (text and binary, permessage-deflate)

      hello:              curl #{base}/hello
      path params:        curl #{base}/hello/ada
                          curl '#{base}/users/7/posts/42?sort=new&tag=a+b'
      POST echo:          curl -d 'hello ferry' #{base}/echo
      streamed upload:    head -c 4G /dev/zero | curl -T - #{base}/upload
                          (size and SHA-256 of up to 16 GiB in constant memory;
                           compare: head -c 4G /dev/zero | sha256sum)
      upload form:        #{base}/upload in a browser (several files: sizes and SHA-256)
                          curl -F 'files[]=@/etc/hostname' -F note=hi #{base}/upload
      static files:       curl -i #{base}/static/style.css   (sent by Rust with sendfile)
                          curl -i -H 'range: bytes=0-9' #{base}/static/style.css
      download:           curl -o /dev/null '#{base}/download?bytes=1073741824'
                          (N bytes from BEAM memory, with content-length)
      chunked response:   curl -N '#{base}/stream?n=20'
      SSE clock:          curl -N '#{base}/sse/clock?n=10'
      crashing route:     curl -i #{base}/crash      (500, logged; the server keeps going)
      unknown path:       curl -i #{base}/nope       (404)
      wrong method:       curl -i -X DELETE #{base}/hello  (405 with allow)
      over a limit:       curl -i -H 'content-length: 20000000000' -d x #{base}/upload  (413, max_body)
      live counters:      curl #{base}/_ferry/info
      metrics:            curl #{base}/metrics   (Prometheus text)
      live dashboard:     #{base}/_ferry/dashboard in a browser

      kill the Rust process, watch it come back:
                          kill -9 $(curl -s #{base}/_ferry/os_pid)
                          curl #{base}/_ferry/info   (new os_pid, restarts + 1)
    """
  end

  @doc "The same list as an HTML page, with the chat linked at the top."
  @spec html(String.t()) :: iodata()
  def html(base) do
    [
      """
      <!doctype html>
      <html lang="en"><head><meta charset="utf-8"><title>Ferry demo</title>
      <style>
        body { font: 15px/1.5 system-ui, sans-serif; margin: 32px auto; max-width: 860px;
               padding: 0 20px; color: #1d2433; }
        a.chat { display: inline-block; margin: 8px 0 20px; padding: 10px 18px; border-radius: 8px;
                 background: #2f6fed; color: #fff; font-weight: 600; text-decoration: none; }
        pre { background: #f3f5f9; padding: 16px; border-radius: 8px; overflow-x: auto;
              font-size: 13px; }
      </style></head><body>
      <h1>Ferry demo</h1>
      <p>The headline: a chat over WebSocket. Open it in two windows and join the same room.</p>
      <a class="chat" href="/chat">Open the chat &rarr;</a>
      <a class="chat" href="/_ferry/dashboard">Live dashboard &rarr;</a>
      <pre>
      """,
      escape(text(base)),
      "</pre></body></html>\n"
    ]
  end

  defp ws("http" <> rest), do: "ws" <> rest
  defp ws(base), do: base

  defp escape(text) do
    text
    |> String.replace("&", "&amp;")
    |> String.replace("<", "&lt;")
    |> String.replace(">", "&gt;")
  end
end
