#!/usr/bin/env python3
"""Upserts N generated articles (~1 KB each) through POST /articles/bulk and reports the rate.

Bodies are generated before the clock starts; two connections send them concurrently, so the
figure is the server's (parse + group-committed transaction), not this script's.
"""
import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse


WORDS = (
    "the of and to a in is it you that he was for on are with as his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find any new "
    "work part take get place made live where after back little only round man year came show "
    "every good me give our under name very through just form sentence great think say help low "
    "line differ turn cause much mean before move right boy old too same tell does set three "
    "want air well also play small end put home read hand port large spell add even land here "
    "must big high such follow act why ask men change went light kind off need house picture try "
    "us again animal point mother world near build self earth father head stand own page should "
    "country found answer school grow study still learn plant cover food sun four between state "
    "keep eye never last let thought city tree cross farm hard start might story saw far sea draw"
).split()


def prose(seed, length=1000):
    """About `length` characters of sentences whose words follow Zipf's law, the same for a seed."""
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, len(WORDS) + 1)]
    sentences, size = [], 0
    while size < length:
        words = rng.choices(WORDS, weights, k=rng.randint(6, 18))
        sentence = " ".join(words).capitalize() + rng.choice(".!?.,;.")
        sentences.append(sentence)
        size += len(sentence) + 1
    return " ".join(sentences)[:length]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="REST API base URL")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="articles per request")
    parser.add_argument("--first-id", type=int, default=1)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--token", help="bearer token, if the API needs one")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--prose", action="store_true",
                        help="each article's content is different text (words drawn with Zipf "
                             "frequencies, seeded by the id), which compresses about as well as "
                             "prose; default: one repeated phrase, as the write benchmarks use")
    args = parser.parse_args()

    repeated = ("lorem ipsum dolor sit amet " * 38)[:1000]
    content = prose if args.prose else (lambda _: repeated)
    bodies = []
    for start in range(args.first_id, args.first_id + args.articles, args.batch):
        end = min(start + args.batch, args.first_id + args.articles)
        rows = [{"id": i, "title": f"Article {i}", "content": content(i),
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
