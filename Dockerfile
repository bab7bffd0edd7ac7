# A self-contained copier image, for clusters that would rather pull one image than run the bundled copier from a
# ConfigMap on a stock Node image. Build and push it to a registry the cluster can pull from, then:
#   docker build -t registry.customer.example/tools/images-copier:0.1.0 .
#   pulumi config set copierImage registry.customer.example/tools/images-copier:0.1.0
#   pulumi config set copierBundled true      # no ConfigMap: the Job runs the copier baked in below
# Without Docker, `npx images-copier publish-image --target REF …` pushes an equivalent image (see README.md).
# The Job's command is the same either way (`node /opt/images-copier/images-copier.cjs copy …`); the path below must
# stay /opt/images-copier/images-copier.cjs.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY copier ./copier
COPY scripts/bundle.js ./scripts/bundle.js
RUN node scripts/bundle.js

FROM node:20-bookworm-slim
COPY --from=build /src/dist/images-copier.cjs /opt/images-copier/images-copier.cjs
# the image's unprivileged `node` user (uid 1000), the same the Job's securityContext asks for
USER 1000:1000
ENV HOME=/tmp NODE_ENV=production
ENTRYPOINT ["node", "/opt/images-copier/images-copier.cjs"]
CMD ["--help"]
