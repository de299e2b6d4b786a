// Decodes the publisher restrictions of every TC string of tcf-v2.jsonl with the IAB
// Tech Lab's library (@iabtechlabtcf/core 1.5.21), one JSON array a line, in file order:
//   npm install @iabtechlabtcf/core@1.5.21 && node restrictions.js tcf-v2.jsonl
const {TCString} = require('@iabtechlabtcf/core');
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n');
for (const l of lines) {
  const d = TCString.decode(JSON.parse(l).tcString);
  const out = d.publisherRestrictions.getRestrictions().map(pr => ({
    purpose: pr.purposeId, restrictionType: pr.restrictionType, vendors: d.publisherRestrictions.getVendors(pr)}));
  console.log(JSON.stringify(out));
}
