# The PR's own Redis: cache and queue of its api and worker. Not routable; the
# others find it through its Consul service.
job "acme-shop-pr-42-cache" {
  type        = "service"
  datacenters = ["dc1"]

  # Ownership marker: previewd never changes or deletes a job without it.
  meta = {
    "previewd.managed-by" = "previewd"
    "previewd.env" = "acme-shop-pr-42"
    "previewd.repo" = "acme/shop"
    "previewd.pr" = "42"
    "previewd.component" = "cache"
  }

  group "cache" {
    count = 1

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
      port "redis" {
        to = 6379
      }
    }

    service {
      name     = "acme-shop-pr-42-cache"
      port     = "redis"
      provider = "consul"
      meta {
        previewd_managed_by = "previewd"
        previewd_env = "acme-shop-pr-42"
        previewd_component = "cache"
      }

      check {
        name     = "tcp"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image = "redis:7.2-alpine"
        ports = ["redis"]
        args  = ["--save", "", "--appendonly", "no", "--maxmemory", "128mb", "--maxmemory-policy", "noeviction"]
      }

      resources {
        cpu    = 100
        memory = 192
      }
    }
  }
}
