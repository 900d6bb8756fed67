from bench.http_path.cli import main

main()
