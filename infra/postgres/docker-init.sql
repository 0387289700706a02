-- docker-compose's PostgreSQL: the same databases infra/postgres/ctl creates.
CREATE DATABASE orders OWNER eventshop;
CREATE DATABASE inventory OWNER eventshop;
CREATE DATABASE payments OWNER eventshop;
