-- Hello: one row per username, replaced by each PUT /hello/<username>.
CREATE TABLE users (
    username      text PRIMARY KEY CHECK (username ~ '^[A-Za-z]{1,100}$'),
    date_of_birth date NOT NULL,
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
