"""A real RTSP server for tests: GStreamer's RTSP server from Debian packages.

Run with Debian's /usr/bin/python3 (python3-gi lives there, not in the virtualenv):
``/usr/bin/python3 tests/rtsp_server.py PORT [VIDEO.mp4]``. Serves ``rtsp://127.0.0.1:PORT/cam``:
the video file transcoded to H.264 when given (looped by clients reconnecting), a moving test
pattern of a camera's size with ``pattern:1920x1080@25`` (endless, at x264's 2 Mbit/s), else a
small moving test pattern. Prints ``ready`` once listening.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODE = (
    "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10"
    " ! rtph264pay name=pay0 pt=96 config-interval=1"
)


def main() -> None:
    port = sys.argv[1]
    given = sys.argv[2] if len(sys.argv) > 2 else ""
    if given.startswith("pattern:"):  # pattern:1920x1080@25 — a live camera of that size, endless
        size, fps = given[len("pattern:") :].split("@")
        width, height = size.split("x")
        source = (
            f"videotestsrc is-live=true pattern=smpte horizontal-speed=4"
            f" ! video/x-raw,width={width},height={height},framerate={fps}/1"
        )
    elif given:
        source = f"filesrc location={given} ! qtdemux ! decodebin"
    else:
        source = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=10/1"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {source} ! {ENCODE} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {port}", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
