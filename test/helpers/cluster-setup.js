/** Gives this cluster run an id; its databases are named after it and dropped at the end. */
const crypto = require("crypto");

module.exports = async function setup() {
  process.env.TF_TEST_RUN = `${Date.now().toString(36)}${crypto.randomBytes(3).toString("hex")}`;
};
