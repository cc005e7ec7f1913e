// The web process: it answers with the number of notes, from the table the migration created.
// Dokku sets DATABASE_URL when a database is linked (dokku postgres:link) and PORT for the app.
const http = require('http');
const { Pool } = require('pg');

const pool = new Pool({ connectionString: process.env.DATABASE_URL });
const port = Number(process.env.PORT) || 5000;

http
  .createServer(async (req, res) => {
    try {
      const { rows } = await pool.query('SELECT count(*)::int AS count FROM notes');
      res.end(`notes: ${rows[0].count}\n`);
    } catch (error) {
      res.statusCode = 500;
      res.end(`database error: ${error.message}\n`);
    }
  })
  .listen(port, () => console.log(`listening on port ${port}`));
