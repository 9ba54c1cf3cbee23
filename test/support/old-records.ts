/**
 * Reality records in the form agents wrote before records carried `memory`, for the tests that show they are still read
 * with no migration. The preparer's two are what pp-preparer --once --trusted-signers wrote for an app whose intent
 * moved its basedir, then for its signed removal; pp-setlive's is in the form its writer had.
 */
export const OLD_PREPARER =
  '{"app":"web","version":"2","details":{"basedir":"/tmp/oldrec/new","present":["2"],"pending":{},"failures":{},"current":null,"kept":[],"formerBasedirs":["/tmp/oldrec/old"]},"attempts":0,"status":"converged","reason":"installs left in a former basedir: /tmp/oldrec/old (web_1); remove them by hand once nothing runs there","signed":{"at":"2026-12-07T16:48:27.982Z","by":"alice (SHA256:HBzkhMHTNp+Ow4PJXa06e8XQJyV6aPDIilgqhuwXQjM)","removed":false,"digest":"303afd11c3552585925ede3a29fdb5fa6364f69239f2571348e75dffeb20e98d"},"intentDigest":"408cf607fd7d133fddce79e4c5387df82b1603c7a2db21a9125a162f34773281","agent":"preparer","at":"2026-12-07T16:48:28.477Z"}';
export const OLD_REMOVED =
  '{"app":"web","status":"converged","reason":"removed by a signed order of 2026-12-07T16:48:33.205Z","attempts":0,"signed":{"at":"2026-12-07T16:48:33.205Z","by":"alice (SHA256:HBzkhMHTNp+Ow4PJXa06e8XQJyV6aPDIilgqhuwXQjM)","removed":true,"digest":"1ce783a5626e1bdeca9862c5919486e6abf379d4a648ac5f469e0c3b0f9a098d"},"agent":"preparer","at":"2026-12-07T16:48:33.520Z"}';

export const OLD_SETLIVE =
  '{"app":"web","version":"2","details":{"current":"2","last":"1"},"attempts":0,"status":"converged","intentDigest":"408cf607fd7d133fddce79e4c5387df82b1603c7a2db21a9125a162f34773281","agent":"setlive","at":"2026-12-07T16:48:29.102Z"}';
