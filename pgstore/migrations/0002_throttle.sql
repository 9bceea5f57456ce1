-- Login throttling counters shared by every instance.
CREATE TABLE throttle (
    key        text COLLATE "C" PRIMARY KEY,
    fails      integer     NOT NULL,
    last_fail  timestamptz NOT NULL,
    wait_until timestamptz NOT NULL
);
CREATE INDEX throttle_last_fail ON throttle (last_fail);
