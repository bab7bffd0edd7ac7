#!/usr/bin/env node
"use strict";
// The installed command: the bundled copier (built by `node scripts/bundle.js`, also on `npm install` via prepare).
require("../dist/images-copier.cjs");
