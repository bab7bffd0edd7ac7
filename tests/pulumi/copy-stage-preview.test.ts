// The same declarations under `pulumi preview` (mocks in dry-run mode): reads happen, nothing differs.
process.env.COPY_STAGE_PREVIEW = "1";
require("./copy-stage.test");
