// The app's first migration. `node-pg-migrate up` applies every file in migrations/ that is not yet
// recorded in the pgmigrations table, in name order; dokku-migrations runs it before each deploy.
exports.up = (pgm) => {
  pgm.createTable('notes', {
    id: 'id',
    body: { type: 'text', notNull: true },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
};

exports.down = (pgm) => {
  pgm.dropTable('notes');
};
