-- One row per closed shift: the store's Z number, given in store_seq order as the appliance
-- numbers its Z reports (each shift.closed it holds takes the next), with the shift's
-- figures as the cloud has them at the close.
CREATE TABLE z_summary (
    store text NOT NULL REFERENCES store (id),
    number integer NOT NULL,
    shift uuid NOT NULL UNIQUE,
    event uuid NOT NULL REFERENCES event (id),
    register text NOT NULL,
    closed_at timestamptz NOT NULL,
    sales integer NOT NULL,
    sales_total bigint NOT NULL,
    returns integer NOT NULL,
    refunds_total bigint NOT NULL,
    counted_cash bigint NOT NULL,
    PRIMARY KEY (store, number)
);
