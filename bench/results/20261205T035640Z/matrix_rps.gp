set terminal svg size 800,450 dynamic font 'sans,11'
set output 'matrix_rps.svg'
set grid
set key outside right top
set title 'Matrix: requests/s by clients'
set xlabel 'clients'
set ylabel 'requests/s'
set logscale x 2
plot 'matrix_rps.dat' index 0 using 1:2 with linespoints lw 2 title 'buffered io-uring random', 'matrix_rps.dat' index 1 using 1:2 with linespoints lw 2 title 'buffered io-uring sequential', 'matrix_rps.dat' index 2 using 1:2 with linespoints lw 2 title 'buffered std-fs random', 'matrix_rps.dat' index 3 using 1:2 with linespoints lw 2 title 'buffered std-fs sequential', 'matrix_rps.dat' index 4 using 1:2 with linespoints lw 2 title 'direct io-uring random', 'matrix_rps.dat' index 5 using 1:2 with linespoints lw 2 title 'direct io-uring sequential', 'matrix_rps.dat' index 6 using 1:2 with linespoints lw 2 title 'direct std-fs random', 'matrix_rps.dat' index 7 using 1:2 with linespoints lw 2 title 'direct std-fs sequential'
