"""
A Django-like client for the handover tests: THREADS workers, each with one persistent
psycopg2 connection in autocommit (CONN_MAX_AGE, as Django runs it). At every "request" the worker
checks the connection is usable (Django's CONN_HEALTH_CHECKS runs SELECT 1), reconnects if not,
then runs a transaction (BEGIN ... COMMIT, an atomic block).
A request fails when its connect or its transaction fails. A probe thread opens a TCP connection
to the port every 5 ms and counts refused (or timed-out) attempts.
Prints one JSON line: requests, failed_requests, reconnects, probes, refused_probes, errors.
Connection parameters come from PG* environment variables (the password never on argv).
Arguments: seconds, workers, CONN_MAX_AGE seconds.
"""
import json, os, socket, sys, threading, time
import psycopg2

DURATION = float(sys.argv[1])
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
# Django's CONN_MAX_AGE: at the end of a request, a connection older than this is closed (and the
# next request opens a new one). pgb-setup prints 600 s for production; the tests use a short one.
MAX_AGE = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
HOST, PORT = os.environ["PGHOST"], int(os.environ["PGPORT"])
stop_at = time.monotonic() + DURATION
lock = threading.Lock()
counts = {"requests": 0, "failed_requests": 0, "reconnects": 0, "probes": 0, "refused_probes": 0}
errors = []

def note(key, err=None):
    with lock:
        counts[key] += 1
        if err is not None and len(errors) < 10:
            errors.append(str(err).strip().splitlines()[0] if str(err).strip() else repr(err))

def usable(conn):
    if conn is None or conn.closed:
        return False
    try:
        with conn.cursor() as c:
            c.execute("SELECT 1")
        return True
    except Exception:
        return False

def worker():
    conn = None
    opened = 0.0
    while time.monotonic() < stop_at:
        note("requests")
        try:
            if conn is None or not usable(conn):
                if conn is not None:
                    try: conn.close()
                    except Exception: pass
                    note("reconnects")
                conn = psycopg2.connect(connect_timeout=5)
                opened = time.monotonic()
                # Django's connections run in autocommit; a transaction is an explicit atomic block,
                # so the health check and the transaction are separate round trips, as in Django.
                conn.autocommit = True
            with conn.cursor() as c:
                c.execute("BEGIN")
                c.execute("SELECT count(*) FROM pg_class")
                c.fetchone()
                c.execute("COMMIT")
            # request_finished: close_if_unusable_or_obsolete()
            if time.monotonic() - opened > MAX_AGE:
                conn.close()
                conn = None
        except Exception as e:
            note("failed_requests", e)
            try: conn.close()
            except Exception: pass
            conn = None
        time.sleep(0.002)
    if conn is not None:
        conn.close()

def probe():
    while time.monotonic() < stop_at:
        note("probes")
        try:
            s = socket.create_connection((HOST, PORT), timeout=1)
            s.close()
        except OSError as e:
            note("refused_probes", e)
        time.sleep(0.005)

threads = [threading.Thread(target=worker) for _ in range(THREADS)] + [threading.Thread(target=probe)]
for t in threads: t.start()
for t in threads: t.join()
counts["errors"] = errors
print(json.dumps(counts))
