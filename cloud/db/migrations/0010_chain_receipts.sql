-- Another store's receipt, looked up for a return (decisions.md §43): the sale and its
-- post-void by receipt number, and every return made against it in any store.
CREATE INDEX event_receipt ON event ((envelope #>> '{body,receipt}'))
    WHERE type IN ('sale.completed', 'sale.voided');
CREATE INDEX event_return_original ON event ((envelope #>> '{body,original}'))
    WHERE type = 'return.completed';
