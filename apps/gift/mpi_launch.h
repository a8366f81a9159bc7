// Whether an MPI launcher (mpirun, mpiexec, srun) started this process, read from the environment
// it sets, without initialising MPI: the CLI calls MPI_Init only when launched so, since a
// singleton MPI_Init is slow and noisy in containers. Compiled with and without MPI.
#pragma once

#include <cstdlib>
#include <string>

namespace gift::cli {

namespace detail {
// The non-negative integer in environment variable `name`, or -1 if unset or not one.
inline long env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 ? n : -1;
}
}  // namespace detail

// This process's rank in the launched job (Open MPI's OMPI_COMM_WORLD_RANK, PMIx's PMIX_RANK, or
// PMI's PMI_RANK), or -1 if no MPI launcher started it.
inline long launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}) {
    const long r = detail::env_count(name);
    if (r >= 0) return r;
  }
  return -1;
}

// The number of processes in the launched job (OMPI_COMM_WORLD_SIZE, PMI_SIZE, or Slurm's
// SLURM_NTASKS under a PMIx launch), 1 if unknown, 0 if no MPI launcher started this process.
inline long launcher_size() {
  if (launcher_rank() < 0) return 0;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    const long n = detail::env_count(name);
    if (n >= 1) return n;
  }
  return 1;
}

}  // namespace gift::cli
