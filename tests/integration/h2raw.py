"""A tiny raw HTTP/2 client (Python standard library only) for the abuse tests.

Real clients (curl, nghttp, h2load) behave: they respect SETTINGS_MAX_CONCURRENT_STREAMS
and never reset a stream they just opened. The abuse tests need a client that does what
an attacker does — open streams past the limit, reset each right after opening it (HTTP/2
Rapid Reset, CVE-2023-44487) — and that reports exactly which frames came back.

    c = H2Conn("127.0.0.1", port)            # h2c prior knowledge; tls=True for h2 over TLS+ALPN
    sid = c.request("GET", "/v1/sync/x", {"x-forwarded-for": "5.1.2.3"})
    c.send_rst(sid, CANCEL)
    c.pump(until=lambda c: c.closed or c.done(sid), timeout=5)
    c.streams[sid]   # Stream: status, data, ended, rst_code

Requests are encoded as HPACK literals without indexing and without Huffman (always
valid, no encoder state). Responses are decoded only as far as the tests need: the
`:status` of each header block is read when the server sent it as a static-table index or
as a literal (plain or Huffman-coded digits); bodies (DATA) are exact. The connection
advertises a 2^31-1 window so the server is never blocked by flow control.
"""
import socket
import ssl
import struct
import time

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
# flags
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, \
    REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)
# settings
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE, \
    SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE = range(1, 7)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_WINDOW = 2 ** 31 - 1
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
               "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
               "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]

# RFC 7541 static table entries 8..14 are the only ones with a :status value.
_STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
# RFC 7541 Appendix B, the codes of the ten digits (enough for any :status value).
_HUFF_DIGITS = {(0x0, 5): "0", (0x1, 5): "1", (0x2, 5): "2", (0x19, 6): "3", (0x1a, 6): "4", (0x1b, 6): "5",
                (0x1c, 6): "6", (0x1d, 6): "7", (0x1e, 6): "8", (0x1f, 6): "9"}


def error_name(code):
    return ERROR_NAMES[code] if 0 <= code < len(ERROR_NAMES) else "0x%x" % code


def hpack_int(value, prefix_bits, first_byte_flags=0):
    """An HPACK integer with an N-bit prefix (RFC 7541 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    n = name.encode("latin-1") if isinstance(name, str) else name
    v = value.encode("latin-1") if isinstance(value, str) else value
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def encode_headers(pairs):
    return b"".join(hpack_literal(k, v) for k, v in pairs)


def hpack_literal_indexed(name, value):
    """Literal header field with incremental indexing, new name (RFC 7541 6.2.1): the server adds it
    to its dynamic table, where the next one is index 62."""
    n = name.encode("latin-1") if isinstance(name, str) else name
    v = value.encode("latin-1") if isinstance(value, str) else value
    return b"\x40" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def hpack_indexed(index):
    """Indexed header field (RFC 7541 6.1): one byte for indexes below 127 (dynamic table entries start at 62)."""
    return hpack_int(index, 7, 0x80)


def _read_int(buf, at, prefix_bits):
    limit = (1 << prefix_bits) - 1
    v = buf[at] & limit
    at += 1
    if v < limit:
        return v, at
    shift = 0
    while True:
        b = buf[at]
        at += 1
        v += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, at


def _huffman_digits(data):
    """Decodes a Huffman string made only of digits; None if it holds anything else."""
    bits = "".join("{:08b}".format(b) for b in data)
    out, i = [], 0
    while i < len(bits):
        for n in (5, 6):
            if i + n <= len(bits):
                d = _HUFF_DIGITS.get((int(bits[i:i + n], 2), n))
                if d is not None:
                    out.append(d)
                    i += n
                    break
        else:
            # what is left must be EOS padding: fewer than 8 one-bits
            return "".join(out) if len(bits) - i < 8 and set(bits[i:]) <= {"1"} else None
    return "".join(out)


def status_of_block(block):
    """The :status of a response header block when it can be read without HPACK state: the
    server puts :status first, as a static index (200, 204, 206, 304, 400, 404, 500) or as a
    literal with the static name :status (index 8). None otherwise (e.g. a dynamic index)."""
    if not block:
        return None
    b = block[0]
    try:
        while b & 0xE0 == 0x20:  # dynamic table size update before the first field
            _, at = _read_int(block, 0, 5)
            block = block[at:]
            b = block[0]
        if b & 0x80:
            idx, _ = _read_int(block, 0, 7)
            return _STATIC_STATUS.get(idx)
        prefix = 6 if b & 0x40 else 4
        idx, at = _read_int(block, 0, prefix)
        if idx not in _STATIC_STATUS:
            return None
        huff = block[at] & 0x80
        n, at = _read_int(block, at, 7)
        raw = block[at:at + n]
        text = _huffman_digits(raw) if huff else raw.decode("latin-1")
        return int(text) if text and text.isdigit() else None
    except (IndexError, ValueError):
        return None


class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.status = None        # int when readable (see status_of_block)
        self.headers_seen = 0     # header blocks received (1 normally; 2 with trailers or 1xx)
        self.data = bytearray()
        self.ended = False        # END_STREAM from the server
        self.send_window = 65535  # what we may still send on it (the server's SETTINGS and WINDOW_UPDATEs)
        self.rst_code = None      # the first RST_STREAM error code from the server
        self.rst_count = 0        # RST_STREAM frames received for this stream
        self.ended_at = None      # time.monotonic() when END_STREAM or RST_STREAM was read
        self._block = b""

    def __repr__(self):
        return "<Stream %d status=%s ended=%s rst=%s data=%d>" % (
            self.sid, self.status, self.ended, None if self.rst_code is None else error_name(self.rst_code),
            len(self.data))


class H2Conn:
    def __init__(self, host, port, tls=False, timeout=10, settings=None, window=MAX_WINDOW):
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
            if raw.selected_alpn_protocol() != "h2":
                raw.close()
                raise OSError("server did not select h2 by ALPN")
        self.sock = raw
        self.timeout = timeout
        self.scheme = "https" if tls else "http"
        self.authority = "localhost:%d" % port
        self.next_sid = 1
        self.streams = {}
        self.server_settings = {}
        self.goaway = None          # (last_stream_id, error_code, debug bytes) once received
        self.closed = False         # the server closed the TCP connection
        self.frames_in = {}         # frame type -> count
        self.rst_in = 0
        self.send_window = 65535    # connection-level flow control for what we send
        self._buf = b""
        s = {SETTINGS_ENABLE_PUSH: 0, SETTINGS_INITIAL_WINDOW_SIZE: window}
        s.update(settings or {})
        payload = b"".join(struct.pack(">HI", k, v) for k, v in s.items())
        out = PREFACE + self.frame(SETTINGS, 0, 0, payload)
        if window > 65535:
            out += self.frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", window - 65535))
        self.sock.sendall(out)

    # --- sending

    @staticmethod
    def frame(ftype, flags, sid, payload=b""):
        return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid & 0x7FFFFFFF) + payload

    def send(self, data):
        try:
            self.sock.settimeout(self.timeout)  # pump() leaves its own short timeout on the socket
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def headers_frame(self, method, path, headers=None, end_stream=True, sid=None):
        """The bytes of one request's HEADERS frame (not sent); allocates the stream id."""
        if sid is None:
            sid = self.next_sid
            self.next_sid += 2
        self.open_stream(sid)
        pairs = [(":method", method), (":scheme", self.scheme), (":authority", self.authority), (":path", path)]
        pairs += [(k.lower(), v) for k, v in (headers or {}).items()]
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return sid, self.frame(HEADERS, flags, sid, encode_headers(pairs))

    def open_stream(self, sid):
        st = self.streams[sid] = Stream(sid)
        st.send_window = self.server_settings.get(SETTINGS_INITIAL_WINDOW_SIZE, 65535)
        return st

    def pseudo_headers(self, method, path):
        """The HPACK block of a request's four pseudo-headers (literals)."""
        return encode_headers([(":method", method), (":scheme", self.scheme), (":authority", self.authority),
                               (":path", path)])

    def header_block_frames(self, block, end_stream=True, sid=None, max_frame=16384):
        """The bytes of one header block (a raw HPACK block) as HEADERS plus as many CONTINUATION frames as
        max_frame needs; allocates the stream id. Returns (sid, bytes, number of frames)."""
        if sid is None:
            sid = self.next_sid
            self.next_sid += 2
        self.open_stream(sid)
        chunks = [block[i:i + max_frame] for i in range(0, len(block), max_frame)] or [b""]
        out = []
        for i, c in enumerate(chunks):
            flags = END_HEADERS if i == len(chunks) - 1 else 0
            if i == 0:
                out.append(self.frame(HEADERS, flags | (END_STREAM if end_stream else 0), sid, c))
            else:
                out.append(self.frame(CONTINUATION, flags, sid, c))
        return sid, b"".join(out), len(chunks)

    def send_data(self, sid, data, end_stream=False, timeout=10, max_frame=16384):
        """Sends data on a stream as DATA frames within the flow-control windows the server grants,
        reading what it sends meanwhile. Stops early when the server resets the stream or the
        connection closes. Returns the number of bytes sent."""
        st = self.streams[sid]
        if not data:  # an empty DATA frame (flow control does not count it)
            self.send(self.frame(DATA, END_STREAM if end_stream else 0, sid))
            return 0
        sent, frames, deadline = 0, 0, time.time() + timeout
        while True:
            if st.rst_code is not None or self.closed or self.goaway is not None:
                return sent
            n = min(len(data) - sent, max_frame, self.send_window, st.send_window)
            last = sent + n == len(data)
            if n > 0 or (last and end_stream):
                if not self.send(self.frame(DATA, END_STREAM if (last and end_stream) else 0, sid,
                                            data[sent:sent + n])):
                    return sent
                sent += n
                frames += 1
                self.send_window -= n
                st.send_window -= n
                if last:
                    return sent
                if frames % 8 == 0:  # read what the server sent (RST_STREAM, WINDOW_UPDATE) now and then
                    self.pump(timeout=0.001)
            else:
                if time.time() > deadline:
                    return sent
                self.pump(until=lambda c: c.send_window > 0 and st.send_window > 0 or st.rst_code is not None,
                          timeout=min(1.0, max(0.01, deadline - time.time())))

    def request(self, method, path, headers=None, body=None):
        """Sends one request (HEADERS, then DATA if body); returns its stream id."""
        sid, f = self.headers_frame(method, path, headers, end_stream=body is None)
        if body is not None:
            f += self.data_frames(sid, body, end_stream=True)
        self.send(f)
        return sid

    def data_frames(self, sid, body, end_stream=True, max_frame=16384):
        out = b""
        chunks = [body[i:i + max_frame] for i in range(0, len(body), max_frame)] or [b""]
        for i, c in enumerate(chunks):
            last = i == len(chunks) - 1
            out += self.frame(DATA, END_STREAM if (last and end_stream) else 0, sid, c)
        return out

    def rst_frame(self, sid, code=CANCEL):
        return self.frame(RST_STREAM, 0, sid, struct.pack(">I", code))

    def send_rst(self, sid, code=CANCEL):
        return self.send(self.rst_frame(sid, code))

    def send_goaway(self, code=NO_ERROR):
        last = max([s for s in self.streams] or [0])
        return self.send(self.frame(GOAWAY, 0, 0, struct.pack(">II", last, code)))

    def ping(self, payload=b"h2raw!!!"):
        return self.send(self.frame(PING, 0, 0, payload[:8].ljust(8, b"\0")))

    # --- receiving

    def _recv(self, timeout):
        self.sock.settimeout(max(0.001, timeout))
        try:
            chunk = self.sock.recv(262144)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self._buf += chunk
        return True

    def _handle(self, ftype, flags, sid, payload):
        self.frames_in[ftype] = self.frames_in.get(ftype, 0) + 1
        st = self.streams.get(sid) if sid else None
        if st is not None and st.ended_at is None and (ftype == RST_STREAM or (ftype in (DATA, HEADERS)
                                                                               and flags & END_STREAM)):
            st.ended_at = time.monotonic()
        if ftype == SETTINGS:
            if not flags & ACK:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    if k == SETTINGS_INITIAL_WINDOW_SIZE:
                        for other in self.streams.values():
                            other.send_window += v - self.server_settings.get(k, 65535)
                    self.server_settings[k] = v
                self.send(self.frame(SETTINGS, ACK, 0))
        elif ftype == WINDOW_UPDATE:
            inc = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            if sid == 0:
                self.send_window += inc
            elif st is not None:
                st.send_window += inc
        elif ftype == PING:
            if not flags & ACK:
                self.send(self.frame(PING, ACK, 0, payload))
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, payload[8:])
        elif ftype == RST_STREAM:
            self.rst_in += 1
            if st is not None and st.rst_code is None:  # the first says why; later ones echo our frames
                st.rst_code = struct.unpack(">I", payload[:4])[0]
                st.rst_count = 0
            if st is not None:
                st.rst_count += 1
        elif ftype in (HEADERS, CONTINUATION) and st is not None:
            block = payload
            if ftype == HEADERS:
                if flags & PADDED:
                    block = block[1:len(block) - payload[0]]
                if flags & PRIORITY_FLAG:
                    block = block[5:]
            st._block += block
            if flags & END_HEADERS:
                st.headers_seen += 1
                s = status_of_block(st._block)
                if st.status is None or (st.status is not None and st.status < 200):
                    st.status = s if s is not None else st.status
                st._block = b""
            if flags & END_STREAM:
                st.ended = True
        elif ftype == DATA and st is not None:
            data = payload
            if flags & PADDED:
                data = data[1:len(data) - payload[0]]
            st.data += data
            if flags & END_STREAM:
                st.ended = True

    def pump(self, until=None, timeout=5.0):
        """Reads and handles frames until until(self) is true, the connection closes, or the
        timeout passes. Returns the value of until (True when until is None and time ran out)."""
        deadline = time.time() + timeout
        while True:
            while len(self._buf) >= 9:
                n = int.from_bytes(self._buf[:3], "big")
                if len(self._buf) < 9 + n:
                    break
                ftype, flags, sid = self._buf[3], self._buf[4], int.from_bytes(self._buf[5:9], "big") & 0x7FFFFFFF
                payload = self._buf[9:9 + n]
                self._buf = self._buf[9 + n:]
                self._handle(ftype, flags, sid, payload)
            if until is not None and until(self):
                return True
            if self.closed:
                return until(self) if until is not None else False
            left = deadline - time.time()
            if left <= 0:
                return False if until is not None else True
            self._recv(min(left, 0.5))

    def done(self, sid):
        st = self.streams.get(sid)
        return st is not None and (st.ended or st.rst_code is not None)

    def all_done(self, sids):
        return all(self.done(s) for s in sids)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
