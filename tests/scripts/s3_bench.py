#!/usr/bin/env python3
"""S3 analysis benchmark helper (BENCHMARKS.md, "S3 analysis").

  s3_bench.py setup ENDPOINT BUCKET OBJECTS LINES   fills BUCKET under app/ (a third gzip)
  s3_bench.py read  ENDPOINT BUCKET PREFIX           the baseline: lists and reads every
                                                     object (gunzipping gzip ones) and counts
                                                     lines, with boto3, no analysis
"""
import gzip
import sys

import boto3


def client(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def setup(endpoint, bucket, objects, lines):
    s3 = client(endpoint)
    s3.create_bucket(Bucket=bucket)
    levels = ["INFO"] * 17 + ["WARN", "ERROR", "DEBUG"]
    for i in range(objects):
        rows = []
        for j in range(lines):
            lvl = levels[(i * 7 + j) % len(levels)]
            rows.append(f"2026-11-28T10:{j % 60:02d}:{i % 60:02d}Z {lvl} pos-{i % 40:02d} "
                        f"checkout: request {i * lines + j} served in {j % 97} ms store=s{i % 12}")
        data = ("\n".join(rows) + "\n").encode()
        if i % 3 == 1:
            data = gzip.compress(data, 1)
        s3.put_object(Bucket=bucket, Key=f"app/obj-{i:05d}.log", Body=data)


def read(endpoint, bucket, prefix):
    s3 = client(endpoint)
    objects = lines = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            data = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            lines += data.count(b"\n")
            objects += 1
    print(f"{objects} objects, {lines} lines")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "setup":
        setup(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "read":
        read(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
