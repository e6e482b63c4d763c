# The PR's API, built from its head commit. A prestart task runs the PR's
# migrations against the PR's own database before the API starts.
job "acme-shop-pr-42-api" {
  type        = "service"
  datacenters = ["dc1"]

  # Ownership marker: previewd never changes or deletes a job without it.
  meta = {
    "previewd.managed-by" = "previewd"
    "previewd.env" = "acme-shop-pr-42"
    "previewd.repo" = "acme/shop"
    "previewd.pr" = "42"
    "previewd.component" = "api"
    "previewd.sha" = "3f2c1ab4d5e6f708192a3b4c5d6e7f8091a2b3c4"
  }

  group "api" {
    count = 1

    # Its tasks' templates look the PR's cache up in Consul: on Nomad 1.10+ a task gets a
    # Consul token only when it or its group has a consul block.
    consul {}

    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "10s"
      healthy_deadline  = "5m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    restart {
      attempts = 2
      interval = "5m"
      delay    = "15s"
      mode     = "fail"
    }

    reschedule {
      attempts       = 3
      interval       = "1h"
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "5m"
      unlimited      = false
    }

    network {
      port "http" {
        to = 3000
      }
    }

    service {
      name     = "acme-shop-pr-42-api"
      port     = "http"
      provider = "consul"
      tags = [
        "traefik.enable=true",
        "previewd.managed=true",
        "traefik.http.routers.acme-shop-pr-42-api.rule=Host(`api-pr-42.preview.example.com`)",
        "traefik.http.routers.acme-shop-pr-42-api.entrypoints=websecure",
        "traefik.http.routers.acme-shop-pr-42-api.tls=true",
        "traefik.http.routers.acme-shop-pr-42-api.tls.certresolver=le",
        "traefik.http.routers.acme-shop-pr-42-api.service=acme-shop-pr-42-api",
      ]
      meta {
        previewd_managed_by = "previewd"
        previewd_env = "acme-shop-pr-42"
        previewd_component = "api"
      }

      check {
        name     = "http"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "migrate" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        image   = "ghcr.io/acme/shop-api:3f2c1ab4d5e6f708192a3b4c5d6e7f8091a2b3c4"
        command = "npm"
        args    = ["run", "migrate"]
      }

      # The PR's canonical environment, read from its own Vault secret with its own
      # Vault role; REDIS_URL comes from the PR's cache service in Consul. consul-template
      # uses [[ ]] here so that Handlebars never touches its directives.
      vault {
        role = "previewd-acme-shop-pr-42"
      }

      # Declared here rather than left to the servers' vault.default_identity and
      # consul.task_identity: the JWTs this task logs into Vault (JWT role) and Consul
      # (auth method nomad-workloads) with.
      identity {
        name = "vault_default"
        aud  = ["vault.io"]
        ttl  = "1h"
      }

      identity {
        name = "consul_default"
        aud  = ["consul.io"]
        ttl  = "1h"
      }

      template {
        destination     = "secrets/preview.env"
        env             = true
        change_mode     = "noop"
        left_delimiter  = "[["
        right_delimiter = "]]"
        data            = "[[ with secret \"secret/data/previews/acme-shop-pr-42\" ]]\nPREVIEW_ID=[[ .Data.data.PREVIEW_ID ]]\nPUBLIC_URL=[[ .Data.data.PUBLIC_URL ]]\nAPI_URL=[[ .Data.data.API_URL ]]\nDATABASE_URL=[[ .Data.data.DATABASE_URL ]]\nQUEUE_NAME=[[ .Data.data.QUEUE_NAME ]]\n[[ end ]]\n[[ range service \"acme-shop-pr-42-cache\" ]]REDIS_URL=redis://[[ .Address ]]:[[ .Port ]][[ end ]]\n"
      }

      resources {
        cpu    = 100
        memory = 256
      }
    }

    task "api" {
      driver = "docker"

      config {
        image = "ghcr.io/acme/shop-api:3f2c1ab4d5e6f708192a3b4c5d6e7f8091a2b3c4"
        ports = ["http"]
      }

      # The PR's canonical environment, read from its own Vault secret with its own
      # Vault role; REDIS_URL comes from the PR's cache service in Consul. consul-template
      # uses [[ ]] here so that Handlebars never touches its directives.
      vault {
        role = "previewd-acme-shop-pr-42"
      }

      # Declared here rather than left to the servers' vault.default_identity and
      # consul.task_identity: the JWTs this task logs into Vault (JWT role) and Consul
      # (auth method nomad-workloads) with.
      identity {
        name = "vault_default"
        aud  = ["vault.io"]
        ttl  = "1h"
      }

      identity {
        name = "consul_default"
        aud  = ["consul.io"]
        ttl  = "1h"
      }

      template {
        destination     = "secrets/preview.env"
        env             = true
        change_mode     = "restart"
        left_delimiter  = "[["
        right_delimiter = "]]"
        data            = "[[ with secret \"secret/data/previews/acme-shop-pr-42\" ]]\nPREVIEW_ID=[[ .Data.data.PREVIEW_ID ]]\nPUBLIC_URL=[[ .Data.data.PUBLIC_URL ]]\nAPI_URL=[[ .Data.data.API_URL ]]\nDATABASE_URL=[[ .Data.data.DATABASE_URL ]]\nQUEUE_NAME=[[ .Data.data.QUEUE_NAME ]]\n[[ end ]]\n[[ range service \"acme-shop-pr-42-cache\" ]]REDIS_URL=redis://[[ .Address ]]:[[ .Port ]][[ end ]]\n"
      }

      resources {
        cpu    = 200
        memory = 512
      }
    }
  }
}
