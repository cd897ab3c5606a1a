-- The shop's schema before its zdm migrations, with a few rows: the test kit compares
-- the rows before each phase with the rows after its reversal.
CREATE TABLE customers (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    name text
);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    total numeric(10, 2) NOT NULL
);
INSERT INTO customers
    SELECT g, 'Customer' || g || '@Example.COM', 'Customer ' || g FROM generate_series(1, 500) g;
INSERT INTO orders
    SELECT g, 1 + g % 500, g * 1.25 FROM generate_series(1, 1000) g;
