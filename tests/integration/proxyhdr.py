"""PROXY protocol headers (v1 text, v2 binary) as load balancers send them, raw connections to a
proxy_protocol listener, and labelled Prometheus samples: shared by the PROXY protocol tests."""
import re
import socket
import ssl
import struct
import time
import urllib.request

import harness as H

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CMD_LOCAL, CMD_PROXY = 0x20, 0x21
TCP4, TCP6 = 0x11, 0x21


def v1(src, dst="127.0.0.1", sport=40000, dport=8443):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src=None, dst=None, sport=40000, dport=8443, tlvs=b"", cmd=CMD_PROXY, fam=None, payload=None):
    """A v2 header. src/dst are addresses (family from src); payload overrides the address block + TLVs."""
    if payload is None:
        if src is None:
            payload = tlvs
            fam = 0x00 if fam is None else fam
        elif ":" in src:
            payload = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst or "::1")
            payload += struct.pack(">HH", sport, dport) + tlvs
            fam = TCP6 if fam is None else fam
        else:
            payload = socket.inet_aton(src) + socket.inet_aton(dst or "127.0.0.1") + struct.pack(">HH", sport, dport)
            payload += tlvs
            fam = TCP4 if fam is None else fam
    return SIG + bytes([cmd, fam]) + struct.pack(">H", len(payload)) + payload


def tlv(kind, value):
    return bytes([kind]) + struct.pack(">H", len(value)) + value


def connect(port, source=None, host="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def tls_wrap(s, alpn=("http/1.1",)):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    return ctx.wrap_socket(s, server_hostname="localhost")


def put_request(path, body, headers=None):
    extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    return ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
            % (path, len(body), extra)).encode() + body


def request_after(port, header, request, tls=False, source=None, chunks=1):
    """Sends the header (in `chunks` writes), then the request (over TLS if asked); returns a Response."""
    s = connect(port, source)
    try:
        step = max(1, -(-len(header) // chunks))
        for i in range(0, len(header), step):
            s.sendall(header[i:i + step])
            if chunks > 1:
                time.sleep(0.005)  # separate segments: the gateway must read the header in pieces
        if tls:
            s = tls_wrap(s)
        s.sendall(request)
        return H.read_response(s)
    except (OSError, ssl.SSLError) as e:
        return H.Response(0, [], b"", error=str(e))
    finally:
        s.close()


def closed_without_answer(s, timeout):
    """Waits (bounded) for the server to close: (closed, bytes received, seconds waited)."""
    t0 = time.monotonic()
    got = b""
    s.settimeout(timeout)
    try:
        while True:
            c = s.recv(4096)
            if not c:
                return True, got, time.monotonic() - t0
            got += c
    except (ConnectionResetError, BrokenPipeError):
        return True, got, time.monotonic() - t0
    except socket.timeout:
        return False, got, time.monotonic() - t0
    finally:
        s.close()


def admin_get(port, path, timeout=5):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sample(text, name, **labels):
    """The value of one sample `name{labels}` of a /metrics answer (labels given must all match), or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None
