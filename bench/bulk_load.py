#!/usr/bin/env python3
"""Upserts N generated articles (~1 KB each) through POST /articles/bulk and reports the rate.

Bodies are generated before the clock starts; two connections send them concurrently, so the
figure is the server's (parse + group-committed transaction), not this script's.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="REST API base URL")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="articles per request")
    parser.add_argument("--first-id", type=int, default=1)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--token", help="bearer token, if the API needs one")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    content = ("lorem ipsum dolor sit amet " * 38)[:1000]
    bodies = []
    for start in range(args.first_id, args.first_id + args.articles, args.batch):
        end = min(start + args.batch, args.first_id + args.articles)
        rows = [{"id": i, "title": f"Article {i}", "content": content,
                 "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
                for i in range(start, end)]
        bodies.append(json.dumps({"upsert": rows}).encode())

    target = urllib.parse.urlsplit(args.url)
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    errors = []
    lock = threading.Lock()

    def worker(chunk):
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        for body in chunk:
            conn.request("POST", "/articles/bulk", body, headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                with lock:
                    errors.append(f"{response.status}: {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(bodies[i::args.connections],))
               for i in range(args.connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"bulk load failed: {len(errors)} errors, first: {errors[0]}")
    if not args.quiet:
        print(f"bulk upsert of {args.articles} articles in requests of {args.batch}: "
              f"{elapsed:.2f} s, {args.articles / elapsed:,.0f} articles/s")


if __name__ == "__main__":
    main()
