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

      kill the Rust process, watch it come back:
                          kill -9 $(curl -s #{base}/_ferry/os_pid)
                          curl #{base}/_ferry/info   (new os_pid, restarts + 1)
    """
  end
end
